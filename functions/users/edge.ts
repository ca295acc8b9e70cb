import { createEdgeWorker } from '../runtime/edge.ts';
import { createUsersApp } from './app.ts';

/** The users function on Cloudflare Workers (a module's default export is what Workers load). */
export default createEdgeWorker('users', createUsersApp);
