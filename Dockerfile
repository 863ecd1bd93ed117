# syntax=docker/dockerfile:1
# dealstream image: one image, the role is the command (migrate | api | projector | worker | all).

# ---- build: full dependencies, compile TypeScript (src/ and migrations/) to dist/
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY . .
RUN npm run build

# ---- runtime: production dependencies and compiled output only
FROM node:20-bookworm-slim AS runtime
ENV NODE_ENV=production \
    PORT=3000
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist ./dist
COPY bin ./bin
# The image's non-root user; the app only reads /app.
USER node
EXPOSE 3000
# Liveness of the HTTP API (roles without HTTP, e.g. projector/worker, disable it in compose).
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 3000) + '/health/live').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["node", "bin/dealstream.js"]
CMD ["all"]
