# ATLAS: one image for every role. The role is the command: `docker run atlas realtime`,
# `... persister`, `... auth users chat`; no command runs every role plus the web client.
# The process listens on $PORT (8080) on all interfaces and stops cleanly on SIGTERM.

# Dependencies with their native parts (argon2, esbuild), built once on the full image.
FROM node:20-bookworm AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

# The runtime: slim Debian, the app's source (tsx runs TypeScript directly), an unprivileged user.
FROM node:20-bookworm-slim AS runtime
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=8080 \
    ATLAS_DATA_DIR=/var/lib/atlas
WORKDIR /app
COPY --from=deps --chown=root:root /app/node_modules ./node_modules
COPY --chown=root:root package.json tsconfig.json ./
COPY --chown=root:root shared ./shared
COPY --chown=root:root functions ./functions
COPY --chown=root:root realtime ./realtime
COPY --chown=root:root web ./web
# The only writable place: the embedded fallbacks' data when no server is configured.
RUN mkdir -p /var/lib/atlas && chown node:node /var/lib/atlas
USER node
EXPOSE 8080
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 8080) + '/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["node", "--import", "tsx", "shared/server/main.ts"]
CMD ["realtime"]
