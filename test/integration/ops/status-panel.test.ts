import { beforeAll, describe, expect, test } from 'vitest';
import { createHubServer } from '../../../src/server/app.js';
import { ensureBuilt } from '../../helpers/hub-process.js';

describe('demo page status panel', () => {
  // The page's scripts are served from dist/.
  beforeAll(ensureBuilt, 120_000);

  test('the page has the panel and loads its script, which the hub serves', async () => {
    const hub = createHubServer({ config: { port: 0 } });
    const url = await hub.listen();
    try {
      const page = await (await fetch(`${url}/`)).text();
      for (const id of ['hub-status', 'status-connections', 'status-rate', 'status-store', 'status-ready']) {
        expect(page).toContain(`id="${id}"`);
      }
      expect(page).toContain('<script type="module" src="/demo/status.js"></script>');
      const script = await fetch(`${url}/demo/status.js`);
      expect(script.status).toBe(200);
      expect(script.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
      expect(await script.text()).toContain("fetch('/status'");
    } finally {
      await hub.close(1000);
    }
  });
});
