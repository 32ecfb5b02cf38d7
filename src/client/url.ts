/**
 * The subscription URL: the hub URL (relative URLs resolve against the page) plus one `topic`
 * parameter per topic selector, as the Mercure protocol asks.
 */
export function subscriptionUrl(hubUrl: string | URL, topics: readonly string[] = []): URL {
  const base = (globalThis as { location?: { href?: string } }).location?.href;
  const url = new URL(hubUrl, base);
  for (const topic of topics) url.searchParams.append('topic', topic);
  return url;
}
