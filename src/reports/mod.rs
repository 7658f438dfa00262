//! "Báo cáo sử dụng sai" / "Report misuse": a citizen reports one entry of their access log
//! with a comment; operators work through an inbox (new → investigating → answered) and the
//! answer is shown to the citizen. Filing and every status change are access-log entries too,
//! written in the same transaction as the change.
//!
//! - `model`: the status and its transitions, the comment/answer text;
//! - `repo`: queries (a status moves by compare-and-set, so two operators never both win);
//! - `service`: file, list, open, move on; comment and answer sealed with the citizen's key;
//! - `pages`: the citizen's form and list, the operators' inbox under `/admin/reports`.

pub mod model;
pub mod pages;
pub mod repo;
pub mod service;
