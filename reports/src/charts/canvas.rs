//! The charts' drawing surface: plotters' RGB bitmap backend with glyph-accurate text.
//!
//! plotters 0.3.7 lays out `ab_glyph` text without each glyph's left side bearing, so narrow
//! letters drift (`runc` reads `run c`, `microvm` reads `mi crovm`). This backend forwards every
//! shape to [`BitMapBackend`] and lays text out itself with the embedded DejaVu Sans: pen
//! advance plus kerning, each outline placed at its own pixel bounds on a common baseline.
use ab_glyph::{point, Font, FontRef, PxScale, ScaleFont};
use plotters::backend::BitMapBackend;
use plotters::prelude::DrawingBackend;
use plotters_backend::text_anchor::{HPos, VPos};
use plotters_backend::{
    BackendColor, BackendCoord, BackendStyle, BackendTextStyle, DrawingErrorKind,
};

use crate::fonts::DEJAVU_SANS_TTF;

type BitMapError = <BitMapBackend<'static> as DrawingBackend>::ErrorType;
type Fallible = Result<(), DrawingErrorKind<BitMapError>>;

/// A bitmap canvas whose text is drawn with correct glyph placement.
pub(crate) struct Canvas<'a> {
    bitmap: BitMapBackend<'a>,
    font: FontRef<'static>,
}

impl<'a> Canvas<'a> {
    /// Draws into `rgb` (3 bytes per pixel, rows top to bottom) of `size` pixels.
    pub(crate) fn new(rgb: &'a mut [u8], size: (u32, u32)) -> Canvas<'a> {
        let font = FontRef::try_from_slice(DEJAVU_SANS_TTF)
            .expect("the embedded DejaVuSans.ttf is a valid font (checked by the chart tests)");
        Canvas {
            bitmap: BitMapBackend::with_buffer(rgb, size),
            font,
        }
    }
}

/// One line of text laid out at the origin: glyph outlines and the line's box.
struct Layout {
    /// (x, y, coverage) of every covered pixel, relative to the box's top-left corner.
    coverage: Vec<(i32, i32, f32)>,
    width: i32,
    height: i32,
}

fn layout(font: &FontRef<'static>, size: f64, text: &str) -> Layout {
    let scaled = font.as_scaled(PxScale::from(size as f32));
    let ascent = scaled.ascent();
    let mut coverage = Vec::new();
    let mut pen_x = 0.0f32;
    let mut previous = None;
    for c in text.chars() {
        let id = scaled.glyph_id(c);
        if let Some(previous) = previous {
            pen_x += scaled.kern(previous, id);
        }
        previous = Some(id);
        let glyph = id.with_scale_and_position(scaled.scale(), point(pen_x, ascent));
        if let Some(outline) = font.outline_glyph(glyph) {
            let bounds = outline.px_bounds();
            let (left, top) = (bounds.min.x as i32, bounds.min.y as i32);
            outline.draw(|x, y, c| coverage.push((left + x as i32, top + y as i32, c)));
        }
        pen_x += scaled.h_advance(id);
    }
    Layout {
        coverage,
        width: pen_x.ceil() as i32,
        height: (ascent - scaled.descent()).ceil() as i32,
    }
}

impl DrawingBackend for Canvas<'_> {
    type ErrorType = BitMapError;

    fn get_size(&self) -> (u32, u32) {
        self.bitmap.get_size()
    }

    fn ensure_prepared(&mut self) -> Fallible {
        self.bitmap.ensure_prepared()
    }

    fn present(&mut self) -> Fallible {
        self.bitmap.present()
    }

    fn draw_pixel(&mut self, point: BackendCoord, color: BackendColor) -> Fallible {
        self.bitmap.draw_pixel(point, color)
    }

    fn draw_line<S: BackendStyle>(
        &mut self,
        from: BackendCoord,
        to: BackendCoord,
        style: &S,
    ) -> Fallible {
        self.bitmap.draw_line(from, to, style)
    }

    fn draw_rect<S: BackendStyle>(
        &mut self,
        upper_left: BackendCoord,
        bottom_right: BackendCoord,
        style: &S,
        fill: bool,
    ) -> Fallible {
        self.bitmap.draw_rect(upper_left, bottom_right, style, fill)
    }

    fn draw_path<S: BackendStyle, I: IntoIterator<Item = BackendCoord>>(
        &mut self,
        path: I,
        style: &S,
    ) -> Fallible {
        self.bitmap.draw_path(path, style)
    }

    fn draw_circle<S: BackendStyle>(
        &mut self,
        center: BackendCoord,
        radius: u32,
        style: &S,
        fill: bool,
    ) -> Fallible {
        self.bitmap.draw_circle(center, radius, style, fill)
    }

    fn fill_polygon<S: BackendStyle, I: IntoIterator<Item = BackendCoord>>(
        &mut self,
        vert: I,
        style: &S,
    ) -> Fallible {
        self.bitmap.fill_polygon(vert, style)
    }

    fn blit_bitmap(&mut self, pos: BackendCoord, size: (u32, u32), src: &[u8]) -> Fallible {
        self.bitmap.blit_bitmap(pos, size, src)
    }

    fn estimate_text_size<S: BackendTextStyle>(
        &self,
        text: &str,
        style: &S,
    ) -> Result<(u32, u32), DrawingErrorKind<Self::ErrorType>> {
        let line = layout(&self.font, style.size(), text);
        Ok((line.width.max(0) as u32, line.height.max(0) as u32))
    }

    fn draw_text<S: BackendTextStyle>(
        &mut self,
        text: &str,
        style: &S,
        pos: BackendCoord,
    ) -> Fallible {
        let colour = style.color();
        if colour.alpha == 0.0 {
            return Ok(());
        }
        let line = layout(&self.font, style.size(), text);
        let anchor = style.anchor();
        let dx = match anchor.h_pos {
            HPos::Left => 0,
            HPos::Center => -line.width / 2,
            HPos::Right => -line.width,
        };
        let dy = match anchor.v_pos {
            VPos::Top => 0,
            VPos::Center => -line.height / 2,
            VPos::Bottom => -line.height,
        };
        let transform = style.transform();
        let (width, height) = self.get_size();
        for (x, y, coverage) in line.coverage {
            let (x, y) = transform.transform(x + dx, y + dy);
            let (x, y) = (pos.0 + x, pos.1 + y);
            if x < 0 || y < 0 || x >= width as i32 || y >= height as i32 {
                continue;
            }
            let alpha = colour.alpha * f64::from(coverage.clamp(0.0, 1.0));
            self.bitmap.draw_pixel(
                (x, y),
                BackendColor {
                    alpha,
                    rgb: colour.rgb,
                },
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use plotters::prelude::*;

    use super::Canvas;

    const SIZE: (u32, u32) = (240, 40);

    /// Per pixel column of `rgb`, whether any ink (anything clearly darker than white) fell there.
    fn ink(rgb: &[u8]) -> Vec<bool> {
        let (width, height) = (SIZE.0 as usize, SIZE.1 as usize);
        (0..width)
            .map(|x| (0..height).any(|y| rgb[(y * width + x) * 3] < 200))
            .collect()
    }

    fn draw<DB: DrawingBackend>(backend: DB, text: &str) {
        let root = backend.into_drawing_area();
        let style = ("sans-serif", 14).into_font().color(&BLACK);
        root.draw(&Text::new(text.to_string(), (4, 4), style))
            .expect("text drawn");
        root.present().expect("presented");
    }

    /// Ink columns of `text` drawn by this canvas.
    fn ink_columns(text: &str) -> Vec<bool> {
        let mut rgb = vec![255u8; (SIZE.0 * SIZE.1 * 3) as usize];
        draw(Canvas::new(&mut rgb, SIZE), text);
        ink(&rgb)
    }

    /// Ink columns of `text` drawn by plotters' own bitmap text layout.
    fn plotters_ink_columns(text: &str) -> Vec<bool> {
        crate::fonts::register();
        let mut rgb = vec![255u8; (SIZE.0 * SIZE.1 * 3) as usize];
        draw(BitMapBackend::with_buffer(&mut rgb, SIZE), text);
        ink(&rgb)
    }

    /// The widths of the blank column runs between the first and the last inked column.
    fn gaps(columns: &[bool]) -> Vec<usize> {
        let first = columns.iter().position(|c| *c).expect("some ink");
        let last = columns.iter().rposition(|c| *c).expect("some ink");
        columns[first..=last]
            .split(|c| *c)
            .map(<[bool]>::len)
            .filter(|n| *n > 0)
            .collect()
    }

    /// Whether `columns` look like well-spaced text: "runc" in four separate letters, and the
    /// narrow "i" of "mic" with the same space (±1 px) on both sides.
    fn well_spaced(draw: fn(&str) -> Vec<bool>) -> Result<(), String> {
        let runc = gaps(&draw("runc"));
        if runc.len() != 3 {
            return Err(format!("runc: letters touch or split: gaps {runc:?}"));
        }
        match gaps(&draw("mic"))[..] {
            [left, right] if left.abs_diff(right) <= 1 => Ok(()),
            ref other => Err(format!("mic: uneven gaps around the i: {other:?}")),
        }
    }

    #[test]
    fn letters_sit_at_their_advance() {
        well_spaced(ink_columns).expect("this canvas spaces letters evenly");
        // The layout this canvas replaces drops side bearings: letters collide and drift.
        // If this starts passing, plotters is fixed and the canvas may be unneeded.
        assert!(
            well_spaced(plotters_ink_columns).is_err(),
            "plotters' own layout is fine now"
        );
    }

    #[test]
    fn estimated_width_matches_the_ink() {
        let columns = ink_columns("qemu-microvm");
        let inked = columns.iter().rposition(|c| *c).unwrap()
            - columns.iter().position(|c| *c).unwrap()
            + 1;
        let mut rgb = vec![255u8; 3 * 4];
        let canvas = Canvas::new(&mut rgb, (2, 2));
        let style = ("sans-serif", 14).into_font().color(&BLACK);
        let (estimated, _) = canvas
            .estimate_text_size("qemu-microvm", &style)
            .expect("estimate");
        let difference = (estimated as i64 - inked as i64).abs();
        assert!(
            difference <= 3,
            "estimated {estimated} px, inked {inked} px"
        );
    }
}
