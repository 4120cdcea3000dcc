//! Stacked charts over time. Queue traces: arrivals, backlog, oldest age and instances per policy.
//! Web traces: requests, instances per policy, and the latency of first requests after a wake.

use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::sim::Outcome;
use crate::web::WebOutcome;

const COLOURS: [RGBColor; 4] =
    [RGBColor(0, 114, 178), RGBColor(213, 94, 0), RGBColor(0, 158, 115), RGBColor(204, 121, 167)];

/// Where text metrics and PNG glyphs come from: a TrueType font, Debian's fonts-dejavu-core
/// (installed by infra/install.sh). Pure Rust (ab_glyph): no fontconfig or freetype to build.
const FONT_PATHS: [&str; 3] = [
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/local/share/fonts/DejaVuSans.ttf",
];

fn register_font() -> anyhow::Result<()> {
    use std::sync::OnceLock;
    static REGISTERED: OnceLock<Result<(), String>> = OnceLock::new();
    REGISTERED
        .get_or_init(|| {
            let bytes = FONT_PATHS.iter().find_map(|p| std::fs::read(p).ok()).ok_or_else(|| {
                format!("no TrueType font for PNG text (looked at {FONT_PATHS:?}); run `bash infra/install.sh`")
            })?;
            // Plotters keeps fonts for the life of the program: leaking this one buffer is the point.
            plotters::style::register_font("sans-serif", FontStyle::Normal, Box::leak(bytes.into_boxed_slice()))
                .map_err(|_| "the font could not be parsed".to_owned())
        })
        .clone()
        .map_err(anyhow::Error::msg)
}

/// Write `path` (SVG) and the same plot as PNG beside it. Returns the PNG's path.
pub fn write(path: &Path, title: &str, outcomes: &[Outcome], slo_age_s: f64) -> anyhow::Result<std::path::PathBuf> {
    // Both backends lay text out with the registered font's metrics.
    register_font()?;
    let size = (1200, 1000);
    draw(SVGBackend::new(path, size).into_drawing_area(), title, outcomes, slo_age_s)?;
    let png = path.with_extension("png");
    draw(BitMapBackend::new(&png, size).into_drawing_area(), title, outcomes, slo_age_s)?;
    Ok(png)
}

/// Write the web comparison to `path` (SVG) and as PNG beside it. Returns the PNG's path.
pub fn write_web(path: &Path, title: &str, outcomes: &[WebOutcome]) -> anyhow::Result<std::path::PathBuf> {
    register_font()?;
    let size = (1400, 900);
    draw_web(SVGBackend::new(path, size).into_drawing_area(), title, outcomes)?;
    let png = path.with_extension("png");
    draw_web(BitMapBackend::new(&png, size).into_drawing_area(), title, outcomes)?;
    Ok(png)
}

fn draw_web<B: DrawingBackend>(root: DrawingArea<B, Shift>, title: &str, outcomes: &[WebOutcome]) -> anyhow::Result<()>
where
    B::ErrorType: 'static,
{
    let err = |e: DrawingAreaErrorKind<B::ErrorType>| anyhow::anyhow!("drawing the plot: {e:?}");
    root.fill(&WHITE).map_err(err)?;
    let root = root.titled(title, ("sans-serif", 24)).map_err(err)?;
    let panels = root.split_evenly((3, 1));
    let minutes = outcomes.first().map_or(1, |o| o.series.arrivals.len()).max(1) as f64;
    let x = (minutes, HOURS);
    let arrivals = outcomes.first().map(|o| o.series.arrivals.clone()).unwrap_or_default();
    panel(&panels[0], "requests per minute", x, &[("requests", &arrivals, BLACK)], None).map_err(err)?;
    let colour = |i: usize| COLOURS[i % COLOURS.len()];
    let instances: Vec<_> =
        outcomes.iter().enumerate().map(|(i, o)| (o.policy, &o.series.instances, colour(i))).collect();
    panel(&panels[1], "instances (booting included)", x, &instances, None).map_err(err)?;
    let waits: Vec<_> =
        outcomes.iter().enumerate().map(|(i, o)| (o.policy, &o.series.first_wait_s, colour(i))).collect();
    let dots = (minutes, HOURS_DOTS);
    panel(&panels[2], "latency of first requests after a wake (s, longest in the minute)", dots, &waits, None)
        .map_err(err)?;
    root.present().map_err(err)?;
    Ok(())
}

fn draw<B: DrawingBackend>(
    root: DrawingArea<B, Shift>,
    title: &str,
    outcomes: &[Outcome],
    slo_age_s: f64,
) -> anyhow::Result<()>
where
    B::ErrorType: 'static,
{
    let err = |e: DrawingAreaErrorKind<B::ErrorType>| anyhow::anyhow!("drawing the plot: {e:?}");
    root.fill(&WHITE).map_err(err)?;
    let root = root.titled(title, ("sans-serif", 24)).map_err(err)?;
    let panels = root.split_evenly((4, 1));
    let minutes = outcomes.first().map_or(1, |o| o.series.arrivals.len()).max(1) as f64;

    let arrivals = outcomes.first().map(|o| o.series.arrivals.clone()).unwrap_or_default();
    panel(&panels[0], "arrivals (messages per minute)", (minutes, MINUTES), &[("arrivals", &arrivals, BLACK)], None)
        .map_err(err)?;

    let backlog: Vec<_> =
        outcomes.iter().enumerate().map(|(i, o)| (o.policy, &o.series.backlog, COLOURS[i % COLOURS.len()])).collect();
    panel(&panels[1], "backlog (messages waiting)", (minutes, MINUTES), &backlog, None).map_err(err)?;

    let age: Vec<_> = outcomes
        .iter()
        .enumerate()
        .map(|(i, o)| (o.policy, &o.series.oldest_age_s, COLOURS[i % COLOURS.len()]))
        .collect();
    panel(&panels[2], "oldest message age (s), SLO dashed", (minutes, MINUTES), &age, Some(slo_age_s)).map_err(err)?;

    let capacity: Vec<_> =
        outcomes.iter().enumerate().map(|(i, o)| (o.policy, &o.series.instances, COLOURS[i % COLOURS.len()])).collect();
    panel(&panels[3], "instances (booting included)", (minutes, MINUTES), &capacity, None).map_err(err)?;
    root.present().map_err(err)?;
    Ok(())
}

/// The time axis: its label, how many of its units a minute is, and how its series are drawn.
#[derive(Clone, Copy)]
struct Axis {
    desc: &'static str,
    per_minute: f64,
    /// Lines of this width; 0: a dot per non-zero value (sparse events, such as wakes).
    stroke: u32,
}

const MINUTES: Axis = Axis { desc: "minute", per_minute: 1.0, stroke: 2 };
/// A week of minutes: wide strokes on near-vertical steps draw spikes past the chart in plotters'
/// bitmap backend, so these lines are thin.
const HOURS: Axis = Axis { desc: "hour (from Monday 00:00)", per_minute: 1.0 / 60.0, stroke: 1 };
const HOURS_DOTS: Axis = Axis { stroke: 0, ..HOURS };

fn panel<B: DrawingBackend>(
    area: &DrawingArea<B, Shift>,
    caption: &str,
    (minutes, axis): (f64, Axis),
    lines: &[(&str, &Vec<f64>, RGBColor)],
    threshold: Option<f64>,
) -> Result<(), DrawingAreaErrorKind<B::ErrorType>> {
    let span = minutes * axis.per_minute;
    let top = lines.iter().flat_map(|(_, v, _)| v.iter().copied()).chain(threshold).fold(1.0f64, f64::max) * 1.05;
    let mut chart = ChartBuilder::on(area)
        .caption(caption, ("sans-serif", 16))
        .margin(8)
        .x_label_area_size(28)
        .y_label_area_size(56)
        .build_cartesian_2d(0f64..span, 0f64..top)?;
    chart.configure_mesh().x_desc(axis.desc).light_line_style(WHITE.mix(0.0)).draw()?;
    for (name, values, colour) in lines {
        let points = values.iter().enumerate().map(|(m, &v)| (m as f64 * axis.per_minute, v));
        let series = if axis.stroke == 0 {
            chart.draw_series(points.filter(|&(_, v)| v > 0.0).map(|p| Circle::new(p, 3, colour.filled())))?
        } else {
            chart.draw_series(LineSeries::new(points, colour.stroke_width(axis.stroke)))?
        };
        series.label(*name).legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], colour.stroke_width(2)));
    }
    if let Some(slo) = threshold {
        chart.draw_series(DashedLineSeries::new([(0.0, slo), (span, slo)], 6, 4, BLACK.stroke_width(1)))?;
    }
    chart.configure_series_labels().background_style(WHITE.mix(0.8)).border_style(BLACK).draw()?;
    Ok(())
}
