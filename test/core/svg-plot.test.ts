import { describe, expect, it } from 'vitest';
import { linePlotSvg } from '../../src/core/svg-plot.js';

describe('linePlotSvg', () => {
  const series = [{ label: 'a <b> & c', points: [{ x: 1e-3, y: 0.9 }, { x: 1e-2, y: 0.95 }, { x: 1, y: 1 }] }];

  it('draws a log x axis with one labelled tick per decade, the axis titles, legend and markers', () => {
    const svg = linePlotSvg(series, {
      title: 'ROC',
      xLabel: 'FAR',
      yLabel: 'TAR',
      xLog: true,
      yMin: 0.9,
      yMax: 1,
      markers: [{ x: 1e-2, y: 0.95, label: 'op' }],
    });
    expect(svg.startsWith('<svg')).toBe(true);
    expect(svg.trimEnd().endsWith('</svg>')).toBe(true);
    for (const t of ['>1e-3<', '>0.01<', '>0.1<', '>1<', '>ROC<', '>FAR<', '>TAR<', '>op<']) expect(svg).toContain(t);
    // Labels are escaped, and the curve has one vertex per point.
    expect(svg).toContain('a &lt;b&gt; &amp; c');
    const poly = /<polyline[^>]*points="([^"]+)"/.exec(svg)![1]!.split(' ');
    expect(poly).toHaveLength(3);
    // Decades are evenly spaced: 1e-3 -> 1e-2 spans a third of the way to 1.
    const xs = poly.map((p) => Number(p.split(',')[0]));
    expect(xs[1]! - xs[0]!).toBeCloseTo((xs[2]! - xs[0]!) / 3, 1);
  });

  it('clamps values outside the axis ranges onto the frame', () => {
    const svg = linePlotSvg([{ label: 's', points: [{ x: 0, y: -5 }, { x: 1, y: 5 }] }], { title: 't', xLabel: 'x', yLabel: 'y', xLog: true, xMin: 1e-2, xMax: 1, yMin: 0, yMax: 1 });
    const pts = /<polyline[^>]*points="([^"]+)"/.exec(svg)![1]!.split(' ').map((p) => p.split(',').map(Number));
    for (const [x, y] of pts) {
      expect(Number.isFinite(x) && Number.isFinite(y)).toBe(true);
    }
  });
});
