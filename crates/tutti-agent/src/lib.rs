//! tutti-agent (in progress)
