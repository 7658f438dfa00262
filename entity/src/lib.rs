//! sea-orm entities, one module per table. Generated shape only: no behaviour lives here; the
//! rules are in the feature services of the `congdanso` crate.

pub mod platform_key;
