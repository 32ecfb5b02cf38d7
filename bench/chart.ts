/**
 * Draws "time for one event to reach every subscriber vs N" as a self-contained SVG: one line per
 * system (median over repetitions), a band for the min–max over repetitions, log-scaled latency.
 */

export interface ChartSeries {
  system: string;
  points: { n: number; medianMs: number; minMs: number; maxMs: number }[];
}

const COLORS: Record<string, string> = {
  ssehub: '#d9480f',
  'ssehub-redis': '#f59f00',
  'ssehub-before': '#868e96',
  'ssehub-core': '#e64980',
  nchan: '#1971c2',
  'plain-node': '#2f9e44',
  'better-sse': '#7048e8',
};
/** Reference lines (the same hub before a change) are dashed. */
const DASHED = new Set(['ssehub-before']);
const FALLBACK_COLORS = ['#495057', '#c2255c', '#0c8599', '#5c940d'];

const WIDTH = 760;
const HEIGHT = 440;
const MARGIN = { top: 48, right: 150, bottom: 56, left: 72 };

function escapeXml(text: string): string {
  return text.replace(
    /[<>&"]/g,
    (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;' })[c] as string,
  );
}

function niceTicks(min: number, max: number): number[] {
  const ticks: number[] = [];
  for (let decade = Math.floor(Math.log10(min)); decade <= Math.ceil(Math.log10(max)); decade++) {
    for (const m of [1, 2, 5]) {
      const value = m * 10 ** decade;
      if (value >= min / 1.0001 && value <= max * 1.0001) ticks.push(value);
    }
  }
  return ticks;
}

function label(ms: number): string {
  return ms >= 1000 ? `${ms / 1000} s` : `${ms} ms`;
}

export function latencyChart(
  series: ChartSeries[],
  title: string,
  subtitle: string,
  yLabel = 'time for one event to reach all N (log scale)',
): string {
  const all = series.flatMap((s) => s.points).filter((p) => p.minMs > 0 && Number.isFinite(p.maxMs));
  const ns = [...new Set(all.map((p) => p.n))].sort((a, b) => a - b);
  const lo = 10 ** Math.floor(Math.log10(Math.min(...all.map((p) => p.minMs))));
  const hi = 10 ** Math.ceil(Math.log10(Math.max(...all.map((p) => p.maxMs))));
  const plotW = WIDTH - MARGIN.left - MARGIN.right;
  const plotH = HEIGHT - MARGIN.top - MARGIN.bottom;
  const maxN = Math.max(...ns);
  const x = (n: number): number => MARGIN.left + (n / maxN) * plotW;
  const y = (ms: number): number =>
    MARGIN.top + plotH - ((Math.log10(ms) - Math.log10(lo)) / (Math.log10(hi) - Math.log10(lo))) * plotH;
  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" viewBox="0 0 ${WIDTH} ${HEIGHT}" font-family="system-ui, -apple-system, 'Segoe UI', sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="#ffffff"/>`,
    `<text x="${MARGIN.left}" y="22" font-size="15" font-weight="600" fill="#212529">${escapeXml(title)}</text>`,
    `<text x="${MARGIN.left}" y="38" fill="#868e96">${escapeXml(subtitle)}</text>`,
  );
  for (const tick of niceTicks(lo, hi)) {
    out.push(
      `<line x1="${MARGIN.left}" x2="${MARGIN.left + plotW}" y1="${y(tick).toFixed(1)}" y2="${y(tick).toFixed(1)}" stroke="#e9ecef"/>`,
      `<text x="${MARGIN.left - 8}" y="${(y(tick) + 4).toFixed(1)}" text-anchor="end" fill="#495057">${label(tick)}</text>`,
    );
  }
  for (const n of ns) {
    out.push(
      `<line x1="${x(n).toFixed(1)}" x2="${x(n).toFixed(1)}" y1="${MARGIN.top}" y2="${MARGIN.top + plotH}" stroke="#f1f3f5"/>`,
      `<text x="${x(n).toFixed(1)}" y="${MARGIN.top + plotH + 18}" text-anchor="middle" fill="#495057">${n.toLocaleString('en-US')}</text>`,
    );
  }
  out.push(
    `<line x1="${MARGIN.left}" x2="${MARGIN.left + plotW}" y1="${MARGIN.top + plotH}" y2="${MARGIN.top + plotH}" stroke="#adb5bd"/>`,
    `<line x1="${MARGIN.left}" x2="${MARGIN.left}" y1="${MARGIN.top}" y2="${MARGIN.top + plotH}" stroke="#adb5bd"/>`,
    `<text x="${MARGIN.left + plotW / 2}" y="${HEIGHT - 14}" text-anchor="middle" fill="#212529">subscribers (N)</text>`,
    `<text transform="translate(18 ${MARGIN.top + plotH / 2}) rotate(-90)" text-anchor="middle" fill="#212529">${escapeXml(yLabel)}</text>`,
  );
  series.forEach((s, index) => {
    const color = COLORS[s.system] ?? FALLBACK_COLORS[index % FALLBACK_COLORS.length];
    const points = s.points.filter((p) => p.minMs > 0).sort((a, b) => a.n - b.n);
    if (points.length === 0) return;
    const band = [
      ...points.map((p) => `${x(p.n).toFixed(1)},${y(p.maxMs).toFixed(1)}`),
      ...[...points].reverse().map((p) => `${x(p.n).toFixed(1)},${y(p.minMs).toFixed(1)}`),
    ];
    out.push(`<polygon points="${band.join(' ')}" fill="${color}" fill-opacity="0.12" stroke="none"/>`);
    out.push(
      `<polyline points="${points.map((p) => `${x(p.n).toFixed(1)},${y(p.medianMs).toFixed(1)}`).join(' ')}" fill="none" stroke="${color}" stroke-width="2.5"${DASHED.has(s.system) ? ' stroke-dasharray="6 4"' : ''}/>`,
    );
    for (const p of points) {
      out.push(
        `<circle cx="${x(p.n).toFixed(1)}" cy="${y(p.medianMs).toFixed(1)}" r="3.5" fill="${color}"/>`,
      );
    }
    const legendY = MARGIN.top + 10 + index * 20;
    out.push(
      `<line x1="${WIDTH - MARGIN.right + 16}" x2="${WIDTH - MARGIN.right + 36}" y1="${legendY}" y2="${legendY}" stroke="${color}" stroke-width="3"${DASHED.has(s.system) ? ' stroke-dasharray="6 4"' : ''}/>`,
      `<text x="${WIDTH - MARGIN.right + 42}" y="${legendY + 4}" fill="#212529">${escapeXml(s.system)}</text>`,
    );
  });
  out.push('</svg>');
  return out.join('\n') + '\n';
}
