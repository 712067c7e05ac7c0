"""Import: readers turn files and datasets into records; the loader writes them to the store."""
