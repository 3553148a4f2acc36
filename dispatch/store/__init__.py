"""Storage: the database engine and its write turns, the models and the audit trail."""
