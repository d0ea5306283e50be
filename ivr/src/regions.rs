//! Caller numbers to regions: the prefix table of `flows/regions.csv`.
