"""The analysts' figures, read from the SQL views (migrations 0002 and 0005), and `supportbot report`."""
