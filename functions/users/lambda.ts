import { createLambdaEntry } from '../runtime/lambda.ts';
import { createUsersApp } from './app.ts';

/** The users function on AWS Lambda; the handler is `functions/users/lambda.handler`. */
export const entry = createLambdaEntry('users', createUsersApp);
export const handler = entry.handler;
