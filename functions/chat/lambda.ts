import { createLambdaEntry } from '../runtime/lambda.ts';
import { createChatApp } from './app.ts';

/**
 * The chat function on AWS Lambda; the handler is `functions/chat/lambda.handler`. It needs
 * Kafka and Cassandra (TCP drivers), so it runs on Node and Lambda, never on the edge.
 */
export const entry = createLambdaEntry('chat', createChatApp);
export const handler = entry.handler;
