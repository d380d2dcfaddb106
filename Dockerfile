# igdm's image: the service on Node.js 24, which runs the TypeScript sources as they are (type
# stripping), so only the inbox (web/) and the SDK it uses are built. README.md, "Deploying".
#   docker build -t igdm .
#   docker run -p 3000:3000 -v igdm-data:/data igdm       # the embedded store, in /data
#   docker run --rm -e DATABASE_URL=postgres://… igdm migrate

ARG NODE_IMAGE=node:24-slim

# The inbox, built with the devDependencies (Vite, TypeScript) from the committed lock file. Install
# scripts are skipped: the only one is the `node` devDependency's, which downloads the Node.js the
# image has already.
FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
COPY packages/sdk/package.json packages/sdk/
COPY web/package.json web/
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY packages/sdk packages/sdk
COPY web web
RUN npm run build --workspace @igdm/sdk && npm run build:web

# The service: the dependencies alone, the sources, and the built inbox; run as the image's `node`
# user, owning nothing but its data folder.
FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
COPY packages/sdk/package.json packages/sdk/
COPY web/package.json web/
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force
COPY bin bin
COPY src src
COPY --from=build /app/web/dist web/dist
# The embedded store and, on PostgreSQL, secret.key and the kept media (IGDM_DATA_DIR).
RUN mkdir -m 0700 /data && chown node:node /data
ENV DATABASE_URL=sqlite:/data/igdm.sqlite \
    IGDM_DATA_DIR=/data \
    PORT=3000
VOLUME ["/data"]
USER node
EXPOSE 3000
# /healthz answers in every role; the slim image has no curl, so Node asks.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 3000) + '/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# As `npm start` runs it, without npm in between (it would stand between igdm and SIGTERM).
ENTRYPOINT ["node", "--max-semi-space-size=4", "bin/igdm.mjs"]
CMD ["start"]
