"""Console tests: real hub, real Chromium."""
