# potledger service image. Used by docker-compose.yml; see docs/OPERATIONS.md.
FROM node:20-bookworm-slim
WORKDIR /app
# Dependencies first, so a source change does not reinstall them. tsx (a devDependency) runs the
# TypeScript directly, so the full lock file is installed.
COPY package.json package-lock.json ./
RUN npm ci && npm cache clean --force
COPY . .
USER node
EXPOSE 8080
CMD ["npx", "tsx", "src/main.ts"]
