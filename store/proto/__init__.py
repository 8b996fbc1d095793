"""Protocol buffer definitions (wire-compatible with ml-metadata 1.17.1) and generated modules."""
