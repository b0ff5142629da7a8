# The image both engines run (deploy/k8s and .github/workflows/zoo-*.yml): ptq-onnx with its
# pinned dependencies (npm ci from package-lock.json) and the zoo (models/), on a pinned Node.
#   docker build -t ptq-onnx:0.1.0 .
#   docker run --rm -v "$PWD/out:/out" ptq-onnx:0.1.0 build deploy/zoo.build.json --out /out/zoo
FROM node:20.20.2-bookworm-slim

WORKDIR /app
# npm 10 (Node 20's) ignores package.json's allowScripts: skip onnxruntime-node's CUDA download
# this way (its CPU binaries ship inside the package).
ENV ONNXRUNTIME_NODE_INSTALL=skip \
    NODE_ENV=production
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY bin ./bin
COPY src ./src
COPY scripts ./scripts
COPY models ./models
COPY deploy ./deploy
COPY docs ./docs
COPY README.md ./
RUN chmod +x bin/ptq-onnx.js && ln -s /app/bin/ptq-onnx.js /usr/local/bin/ptq-onnx \
    && ptq-onnx inspect models/wordnet8-disc.onnx > /dev/null

ENTRYPOINT ["ptq-onnx"]
CMD ["--help"]
