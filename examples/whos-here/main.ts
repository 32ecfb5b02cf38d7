// Runs the who's-here example: npm run example:whos-here, then open
// http://localhost:3002/?name=Ann in one tab and http://localhost:3002/?name=Bob in another.
import { createApp } from './server.js';

const port = Number(process.env.PORT ?? 3002);
const { server } = createApp();
server.listen(port, () => console.log(`Who's here example on http://localhost:${port}/?name=Ann`));
