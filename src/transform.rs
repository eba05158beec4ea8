//! Scaffold: replaced by Transformer and the seed transformers.
