"""Web service: JSON API, Chinese server-rendered UI, SQLite store (`assistant serve`)."""
