import { createLambdaEntry, lambdaClientAddress } from '../runtime/lambda.ts';
import { createAuthApp } from './app.ts';

/** The auth function on AWS Lambda; the handler is `functions/auth/lambda.handler`. */
export const entry = createLambdaEntry('auth', (services) =>
  createAuthApp(services, { clientAddress: lambdaClientAddress }),
);
export const handler = entry.handler;
