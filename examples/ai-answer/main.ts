// Runs the resumable AI answers example: npm run example:ai-answer, then open http://localhost:3001.
import { createApp } from './server.js';

const port = Number(process.env.PORT ?? 3001);
const { server } = createApp();
server.listen(port, () => console.log(`AI answers example on http://localhost:${port}`));
