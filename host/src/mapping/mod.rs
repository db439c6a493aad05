//! Compiled field mappings and CEL expressions.
