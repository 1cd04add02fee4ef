// A horizontal bar chart as SVG text, by hand: one bar per server, its ratio against the
// baseline, a line at 1 (the baseline) and the value at the end of each bar.
import type { ServerKind } from '../servers.ts';
import { ratio } from './format.ts';

export interface Bar {
  readonly label: string;
  readonly value: number;
  readonly kind: ServerKind;
}

const colors: Readonly<Record<ServerKind, string>> = {
  ceiling: '#7b61a8',
  baseline: '#8c8c8c',
  echo: '#2f6db3',
  python: '#d9822b',
  cpu: '#2e8b57',
  'scale-out': '#1f9e9e',
  pools: '#b8457a',
};
const legend: readonly [ServerKind, string][] = [
  ['echo', 'socketserver'],
  ['cpu', 'socketserver (CPU-bound)'],
  ['scale-out', 'socketserver (scale-out)'],
  ['pools', 'socketserver (pools)'],
  ['baseline', 'node:net baseline'],
  ['python', 'Python recipe'],
  ['ceiling', 'C ceiling'],
];

const escapeXml = (text: string): string =>
  text.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;').replaceAll('"', '&quot;');

/** The SVG document; `title` on top, `note` (what the ratio is, which way is better) under it. */
export function barChart(title: string, note: string, bars: readonly Bar[]): string {
  const width = 760;
  const labelWidth = 230;
  const valueWidth = 70;
  const barHeight = 18;
  const gap = 6;
  const top = 62;
  const plotWidth = width - labelWidth - valueWidth - 20;
  const maxValue = Math.max(1.2, ...bars.map((bar) => (Number.isFinite(bar.value) ? bar.value : 0))) * 1.05;
  const x = (value: number): number => labelWidth + (Math.max(0, value) / maxValue) * plotWidth;
  const kinds = new Set(bars.map((bar) => bar.kind));
  const shownLegend = legend.filter(([kind]) => kinds.has(kind));
  const plotHeight = bars.length * (barHeight + gap);
  const height = top + plotHeight + 40;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="system-ui, -apple-system, 'Segoe UI', sans-serif" font-size="12">`,
    `<rect width="${width}" height="${height}" fill="#ffffff"/>`,
    `<text x="10" y="22" font-size="15" font-weight="bold" fill="#222">${escapeXml(title)}</text>`,
    `<text x="10" y="42" fill="#555">${escapeXml(note)}</text>`,
  ];
  bars.forEach((bar, index) => {
    const y = top + index * (barHeight + gap);
    const value = Number.isFinite(bar.value) ? bar.value : 0;
    const end = x(value);
    parts.push(
      `<text x="${labelWidth - 8}" y="${y + barHeight - 5}" text-anchor="end" fill="#222">${escapeXml(bar.label)}</text>`,
      `<rect x="${labelWidth}" y="${y}" width="${Math.max(1, end - labelWidth).toFixed(1)}" height="${barHeight}" fill="${colors[bar.kind]}"/>`,
      `<text x="${(end + 5).toFixed(1)}" y="${y + barHeight - 5}" fill="#222">${Number.isFinite(bar.value) ? ratio(bar.value) : 'n/a'}</text>`,
    );
  });
  const one = x(1).toFixed(1);
  parts.push(
    `<line x1="${one}" y1="${top - 6}" x2="${one}" y2="${top + plotHeight}" stroke="#222" stroke-dasharray="4 3"/>`,
    `<text x="${one}" y="${top - 9}" text-anchor="middle" fill="#222">1x</text>`,
  );
  let legendX = 10;
  for (const [kind, text] of shownLegend) {
    const y = top + plotHeight + 16;
    parts.push(
      `<rect x="${legendX}" y="${y}" width="12" height="12" fill="${colors[kind]}"/>`,
      `<text x="${legendX + 17}" y="${y + 10}" fill="#222">${escapeXml(text)}</text>`,
    );
    legendX += 30 + text.length * 7;
  }
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}
