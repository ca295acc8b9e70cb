import { writeFileSync } from 'node:fs';
import { PNG } from 'pngjs';
import { GLYPH_WIDTH, glyph } from './font.ts';

type Rgb = readonly [number, number, number];

export const SERIES_COLOURS: readonly Rgb[] = [
  [31, 119, 180],
  [255, 127, 14],
  [44, 160, 44],
  [214, 39, 40],
];

export interface BarChart {
  title: string;
  /** One group per category (e.g. a percentile), one bar per series (a system) in each. */
  groups: ReadonlyArray<{ label: string; values: ReadonlyArray<number | null> }>;
  series: readonly string[];
  unit: string;
}

/** A small raster canvas with just what bar charts need. */
class Canvas {
  readonly png: PNG;

  constructor(
    readonly width: number,
    readonly height: number,
  ) {
    this.png = new PNG({ width, height });
    this.rect(0, 0, width, height, [255, 255, 255]);
  }

  rect(x: number, y: number, w: number, h: number, colour: Rgb): void {
    for (let py = Math.max(0, Math.floor(y)); py < Math.min(this.height, y + h); py++) {
      for (let px = Math.max(0, Math.floor(x)); px < Math.min(this.width, x + w); px++) {
        const i = (py * this.width + px) * 4;
        this.png.data[i] = colour[0];
        this.png.data[i + 1] = colour[1];
        this.png.data[i + 2] = colour[2];
        this.png.data[i + 3] = 255;
      }
    }
  }

  text(x: number, y: number, text: string, scale = 2, colour: Rgb = [30, 30, 30]): void {
    [...text].forEach((char, n) => {
      glyph(char).forEach((row, dy) => {
        for (let dx = 0; dx < 5; dx++) {
          if (row & (16 >> dx)) {
            this.rect(x + (n * GLYPH_WIDTH + dx) * scale, y + dy * scale, scale, scale, colour);
          }
        }
      });
    });
  }
}

export function textWidth(text: string, scale = 2): number {
  return text.length * GLYPH_WIDTH * scale;
}

/** Draws a grouped bar chart with value labels and a legend, and writes it as a PNG file. */
export function drawBarChart(chart: BarChart, file: string): void {
  const width = 900;
  const height = 420;
  const canvas = new Canvas(width, height);
  const left = 60;
  const top = 70;
  const bottom = height - 60;
  canvas.text(left, 16, chart.title, 3);
  chart.series.forEach((name, i) => {
    const x = left + i * 200;
    canvas.rect(x, 48, 14, 14, SERIES_COLOURS[i % SERIES_COLOURS.length]!);
    canvas.text(x + 20, 49, name, 2);
  });
  const values = chart.groups.flatMap((g) => g.values.filter((v): v is number => v !== null));
  const max = Math.max(1e-9, ...values);
  canvas.rect(left, bottom, width - left - 20, 2, [80, 80, 80]);
  const groupWidth = (width - left - 40) / Math.max(1, chart.groups.length);
  const barWidth = Math.min(70, (groupWidth - 30) / Math.max(1, chart.series.length));
  chart.groups.forEach((group, g) => {
    const groupLeft = left + 10 + g * groupWidth;
    group.values.forEach((value, s) => {
      const x = groupLeft + s * barWidth;
      if (value === null) {
        canvas.text(x + 4, bottom - 18, 'N/A', 1);
        return;
      }
      const h = Math.max(1, ((bottom - top - 20) * value) / max);
      canvas.rect(x, bottom - h, barWidth - 6, h, SERIES_COLOURS[s % SERIES_COLOURS.length]!);
      canvas.text(x, bottom - h - 10, formatValue(value), 1);
    });
    canvas.text(groupLeft, bottom + 12, group.label, 2);
  });
  canvas.text(left, height - 22, chart.unit, 2, [90, 90, 90]);
  writeFileSync(file, PNG.sync.write(canvas.png));
}

export function formatValue(value: number): string {
  if (value >= 100_000) {
    return `${Math.round(value / 1000)}K`;
  }
  if (value >= 100) {
    return String(Math.round(value));
  }
  return String(Math.round(value * 100) / 100);
}
