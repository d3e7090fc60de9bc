FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY grassroots ./grassroots
RUN pip install --no-cache-dir .
ENV GRASSROOTS_DATA=/data
VOLUME ["/data"]
EXPOSE 8000
CMD ["grassroots", "serve", "--host", "0.0.0.0", "--port", "8000"]
