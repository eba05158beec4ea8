//! Scaffold: replaced by Matcher and Filter.
