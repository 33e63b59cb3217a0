//! Everything that reads or calls into another library's C structures directly.

pub(crate) mod numpy;
