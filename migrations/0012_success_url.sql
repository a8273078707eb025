-- Success callbacks: a job may name a URL told of the response of its successful attempt.
ALTER TABLE "jobs" ADD COLUMN "success_url" text;
