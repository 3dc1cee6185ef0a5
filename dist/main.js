import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);
import{a as o,c as t,d as m}from"./chunks/chunk-6RZAQH2Y.js";import"./chunks/chunk-2OA662U3.js";import{t as r}from"./chunks/chunk-HHY5A6EL.js";import"./chunks/chunk-BDVI4OGD.js";import"./chunks/chunk-67BG23Y2.js";var i=o(process.env);r(i);await m(i,()=>t());
