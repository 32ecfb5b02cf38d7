/** Prometheus text → value per series (`name` or `name{labels}`). */
export function parseMetrics(text: string): Map<string, number> {
  const series = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const match = /^(\S+?(?:\{[^}]*\})?) (\S+)$/.exec(line);
    if (!match) throw new Error(`unparsable metrics line: ${line}`);
    series.set(match[1] as string, Number(match[2]));
  }
  return series;
}

/** The hub's `/metrics`, parsed. */
export async function scrape(baseUrl: string): Promise<Map<string, number>> {
  const response = await fetch(`${baseUrl}/metrics`);
  if (response.status !== 200) throw new Error(`/metrics answered ${response.status}`);
  return parseMetrics(await response.text());
}
