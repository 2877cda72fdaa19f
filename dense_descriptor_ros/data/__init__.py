"""Training data readers: unordered image folders and posed RGB-D sequences."""
