"""Test harness shared by the test layers: real hub, scripted hub, X servers, clients."""
