//! The embedded font (DejaVu Sans) that lets chart text render on a host with no system fonts.
//!
//! plotters' `ab_glyph` text backend only knows fonts registered at run time; every chart here,
//! and criterion's own charts, ask for the family "sans-serif".
use std::sync::Once;

use plotters::style::FontStyle;

/// DejaVu Sans, Bitstream Vera licence: see `assets/DejaVuSans-LICENSE`.
pub static DEJAVU_SANS_TTF: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");

/// The family names the font is registered under.
const FAMILIES: [&str; 3] = ["sans-serif", "serif", "monospace"];

static REGISTER: Once = Once::new();

/// Registers the embedded font with plotters as the families charts use (other styles fall back to it).
/// Idempotent and cheap after the first call; call it before drawing any text with plotters.
pub fn register() {
    REGISTER.call_once(|| {
        for family in FAMILIES {
            // Other styles fall back to Normal. The bytes are a TrueType file checked in with
            // the crate, so a failure here is a build defect (the tests catch it).
            if plotters::style::register_font(family, FontStyle::Normal, DEJAVU_SANS_TTF).is_err() {
                panic!("the embedded DejaVuSans.ttf is not a valid font");
            }
        }
    });
}
