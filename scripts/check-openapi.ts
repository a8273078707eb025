/**
 * Validates the generated OpenAPI document against the OpenAPI 3.1 schema (run in CI).
 * Node-side because the validator compiles JSON Schemas to code, which workerd forbids.
 */
import { Validator } from "@seriousme/openapi-schema-validator";
import { openApiDocument } from "../src/api/openapi";

const validator = new Validator();
const result = await validator.validate(openApiDocument("https://fliq.example.com"));
if (validator.version !== "3.1") {
  console.error(`expected an OpenAPI 3.1 document, the validator read ${validator.version}`);
  process.exit(1);
}
if (!result.valid) {
  console.error("the OpenAPI document is invalid:", JSON.stringify(result.errors, null, 2));
  process.exit(1);
}
console.log("OpenAPI 3.1 document is valid");
