//! tutti-scheduler (in progress)
