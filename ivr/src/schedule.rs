//! Opening hours, Ontario statutory holidays and local time in America/Toronto.
