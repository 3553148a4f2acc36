"""Wire protocol and domain types shared by the agent and the dispatch hub."""
