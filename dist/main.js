import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);
import{a as r,c as t,d as m}from"./chunks/chunk-YR3Q237W.js";import"./chunks/chunk-NAQACTRX.js";import{l as o}from"./chunks/chunk-SCSF7PL7.js";import"./chunks/chunk-QJIL2DAA.js";import"./chunks/chunk-67BG23Y2.js";var i=r(process.env);o(i);await m(i,()=>t());
