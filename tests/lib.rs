//! End-to-end scenarios live in the files beside this one, one per file.
