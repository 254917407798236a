//! PNG charts drawn with plotters, using the DejaVu Sans font compiled in (no system fonts
//! needed): lines for metrics against connection count or load, horizontal bars on a log scale
//! for primitive costs.

use plotters::prelude::*;
use std::io;
use std::path::Path;

/// One line of a line chart: a name and its (x, y) points.
pub type Series = (String, Vec<(f64, f64)>);

fn err(e: impl std::fmt::Display) -> io::Error {
    io::Error::other(e.to_string())
}

fn register_font() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = plotters::style::register_font(
            "sans-serif",
            FontStyle::Normal,
            dejavu::sans::regular(),
        );
    });
}

const PALETTE: [RGBColor; 8] = [
    RGBColor(0x2e, 0x8b, 0x57), // greenhub: green
    RGBColor(0x1f, 0x77, 0xb4),
    RGBColor(0xd6, 0x27, 0x28),
    RGBColor(0xff, 0x7f, 0x0e),
    RGBColor(0x94, 0x67, 0xbd),
    RGBColor(0x8c, 0x56, 0x4b),
    RGBColor(0x17, 0xbe, 0xcf),
    RGBColor(0x7f, 0x7f, 0x7f),
];

/// Draws `series` against a logarithmic x axis and a linear y axis from zero.
///
/// # Errors
///
/// When the file cannot be written or there is nothing to draw.
pub fn line_chart(
    path: &Path,
    title: &str,
    (x_label, y_label): (&str, &str),
    series: &[Series],
) -> io::Result<()> {
    register_font();
    let points = series.iter().flat_map(|(_, p)| p.iter());
    let (mut x_min, mut x_max, mut y_max) = (f64::MAX, f64::MIN, 0.0f64);
    for &(x, y) in points {
        x_min = x_min.min(x);
        x_max = x_max.max(x);
        y_max = y_max.max(y);
    }
    if x_min > x_max {
        return Err(err("no points to draw"));
    }
    let root = BitMapBackend::new(path, (900, 520)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 22))
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(80)
        .build_cartesian_2d(
            (x_min * 0.8..x_max * 1.25).log_scale(),
            0.0..(y_max * 1.15).max(1e-9),
        )
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc(x_label)
        .y_desc(y_label)
        .x_label_formatter(&|x| format!("{x:.0}"))
        .y_label_formatter(&|y| format!("{y:.0}"))
        .label_style(("sans-serif", 14))
        .draw()
        .map_err(err)?;
    for (i, (name, points)) in series.iter().enumerate() {
        let color = PALETTE[i % PALETTE.len()];
        chart
            .draw_series(LineSeries::new(
                points.iter().copied(),
                color.stroke_width(if i == 0 { 3 } else { 2 }),
            ))
            .map_err(err)?
            .label(name.as_str())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(3))
            });
        chart
            .draw_series(points.iter().map(|p| Circle::new(*p, 4, color.filled())))
            .map_err(err)?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .label_font(("sans-serif", 14))
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
        .map_err(err)?;
    root.present().map_err(err)
}

/// One bar: its label, its value in nanoseconds, and whether it is greenhub's.
pub type Bar = (String, f64, bool);

/// Horizontal bars on a logarithmic axis, greenhub's in green, each labelled at its end.
///
/// # Errors
///
/// When the file cannot be written or there is nothing to draw.
pub fn bar_chart(path: &Path, title: &str, x_label: &str, bars: &[Bar]) -> io::Result<()> {
    register_font();
    if bars.is_empty() {
        return Err(err("no bars to draw"));
    }
    let min = bars.iter().map(|b| b.1).fold(f64::MAX, f64::min).max(0.1);
    let max = bars.iter().map(|b| b.1).fold(0.0, f64::max);
    let height = 90 + 26 * bars.len() as u32;
    let root = BitMapBackend::new(path, (1000, height)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let (left, right) = (min / 2.0, max * 40.0);
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 22))
        .margin(15)
        .x_label_area_size(40)
        .y_label_area_size(10)
        .build_cartesian_2d((left..right).log_scale(), 0.0..bars.len() as f64)
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc(x_label)
        .x_label_formatter(&|ns| super::human_ns(*ns))
        .disable_y_mesh()
        .disable_y_axis()
        .label_style(("sans-serif", 14))
        .draw()
        .map_err(err)?;
    let grey = RGBColor(0x9e, 0x9e, 0x9e);
    for (i, (label, value, ours)) in bars.iter().enumerate() {
        let y = (bars.len() - 1 - i) as f64;
        let color = if *ours { PALETTE[0] } else { grey };
        chart
            .draw_series(std::iter::once(Rectangle::new(
                [(left, y + 0.15), (*value, y + 0.85)],
                color.filled(),
            )))
            .map_err(err)?;
        chart
            .draw_series(std::iter::once(Text::new(
                format!("{label}: {}", super::human_ns(*value)),
                (*value * 1.1, y + 0.7),
                ("sans-serif", 13).into_font(),
            )))
            .map_err(err)?;
    }
    root.present().map_err(err)
}
