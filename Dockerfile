# Transit worker image: multi-stage, non-root, glibc (the Temporal core bridge ships glibc binaries only:
# no Alpine). The workflow code is bundled at build time (with Transit's failure converter, see
# writeWorkflowBundle), so a worker starts without webpack; core-bridge binaries for other platforms are dropped.
FROM node:20.20.2-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
RUN npx tsc -p tsconfig.json \
 && node -e "require('./lib/src/worker').writeWorkflowBundle('lib/workflow-bundle.js')" \
 && npm prune --omit=dev \
 && find node_modules/@temporalio/core-bridge/releases -mindepth 1 -maxdepth 1 ! -name "$(uname -m)-unknown-linux-gnu" -exec rm -rf {} +

FROM node:20.20.2-bookworm-slim
ENV NODE_ENV=production \
    TRANSIT_WORKFLOW_BUNDLE=/app/lib/workflow-bundle.js \
    TRANSIT_METRICS_ADDRESS=0.0.0.0:9464
WORKDIR /app
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/lib ./lib
COPY package.json ./
USER node
EXPOSE 9464
ENTRYPOINT ["node", "lib/src/cli/main.js"]
CMD ["worker"]
