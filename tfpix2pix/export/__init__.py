"""Converting an exported SavedModel to other formats and checking the results."""
