"""Personal data stays off the log: an encrypted vault, salted commitments, SD-JWT."""
