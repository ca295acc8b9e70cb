/**
 * ATLAS on AWS with SST: `npx sst deploy --stage production` (docs/deploy.md). The parts are
 * in infra/, one file each; stages differ only in sizes (infra/stages.ts).
 */
export default $config({
  app(input) {
    return {
      name: 'atlas',
      home: 'aws',
      // Production keeps its data stores when the app is removed; other stages clean up.
      removal: input?.stage === 'production' ? 'retain' : 'remove',
      protect: input?.stage === 'production',
      // The region comes from the deploying credentials (AWS_REGION or the profile).
    };
  },
  async run() {
    await import('./infra/secrets.ts');
    await import('./infra/network.ts');
    await import('./infra/data.ts');
    const { kafka } = await import('./infra/streaming.ts');
    const { api } = await import('./infra/functions.ts');
    const { realtime } = await import('./infra/realtime.ts');
    return {
      api: api.url,
      realtime: realtime.url,
      kafka: kafka.bootstrapBrokers,
    };
  },
});
