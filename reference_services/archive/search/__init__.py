"""The archive's OpenSearch side: the index design (data files), the index, its lifecycle."""
